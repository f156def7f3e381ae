"""The import pipeline's steps; importing this package registers them and `card_import`."""

from app.pipeline.steps import (  # noqa: F401 - imported to register
    assign_jumps,
    cleanup,
    decode_qr,
    extract_metadata,
    filter_new_files,
    receive_file_list,
    render_final,
    request_qr_videos,
    request_session_videos,
)
from app.pipeline import card_import  # noqa: E402, F401 - defines the pipeline once its steps exist
