"""What both deployables need: the search Function (function_app/) and the indexer (indexing/).

Settings parts and environment reading, database connections and the schema, the search bundle, the
reduced space, the ONNX text encoder, vector-index names and image stores. Nothing here imports torch,
sklearn or the indexer, so the Function ships this package and function_app/ only.
"""
