"""Where MAAP puts a job's products: moved to :mod:`jupyter_compute.backends.maap.storage`; its names
are re-exported here for the modules and tests that import them from this older path."""

from .maap.storage import (
    CHUNK_SIZE,
    LOG_SUFFIXES,
    MAX_FOLDER_DEPTH,
    MAX_FOLDER_FILES,
    MAX_INDEX_BYTES,
    MAX_REDIRECTS,
    MEDIA_TYPES,
    ProductIndex,
    S3Reader,
    file_name,
    is_log,
    list_http_folder,
    may_be_folder,
    media_type,
    s3_path,
    same_origin,
    stream_http,
)

__all__ = [
    "CHUNK_SIZE",
    "LOG_SUFFIXES",
    "MAX_FOLDER_DEPTH",
    "MAX_FOLDER_FILES",
    "MAX_INDEX_BYTES",
    "MAX_REDIRECTS",
    "MEDIA_TYPES",
    "ProductIndex",
    "S3Reader",
    "file_name",
    "is_log",
    "list_http_folder",
    "may_be_folder",
    "media_type",
    "s3_path",
    "same_origin",
    "stream_http",
]
