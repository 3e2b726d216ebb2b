"""Azure Functions entry script (app setting PYTHON_SCRIPT_FILE_NAME=search_function.py).

The host imports this file as a top-level module by its stem and expects exactly one FunctionApp in
it. A root function_app.py would be shadowed by the function_app/ package, hence this name. Importing
stays cheap: settings are read here, models and connections are built on the first request.
"""

import os

import azure.functions as func

from function_app.api import create_api
from function_app.settings import Settings

app = func.AsgiFunctionApp(
    app=create_api(Settings.from_env(os.environ)),
    http_auth_level=func.AuthLevel.ANONYMOUS,
)
