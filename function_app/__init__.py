"""The search API: a plain search service and the HTTP layer that the Azure Function and uvicorn serve."""
