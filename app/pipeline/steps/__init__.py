"""The import pipeline's steps; importing this package registers them (the registry then
imports `app.pipeline.card_import`, which defines the pipeline from them)."""

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
    write_report,
    verify_copies,
)
