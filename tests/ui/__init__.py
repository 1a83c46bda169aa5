# A package, so that this folder's conftest.py is imported as `ui.conftest` and never shadows
# tests/conftest.py, which the other test modules import as `conftest`.
