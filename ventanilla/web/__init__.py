"""The web form: a Starlette app served by uvicorn in the worker's event loop (or `ventanilla web`)."""
