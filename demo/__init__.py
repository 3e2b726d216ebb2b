"""The one-command demo (`./dev demo`): train a captioner, index a picture collection, serve it."""
