"""Video and DAVIS I/O: lazy readers (``reader``: the ``Video`` base, arrays and
frame folders; ``file``: video files via PyAV), ``open_video`` (``open``),
``write_video`` (``write``) and the DAVIS label PNGs (``davis``)."""

from tam_core.video.file import FileVideo
from tam_core.video.open import open_video
from tam_core.video.reader import (IMAGE_SUFFIXES, VIDEO_SUFFIXES, ArrayVideo, FolderVideo, FrameIndexError, Video,
                                   VideoOptions)
from tam_core.video.write import write_video

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "ArrayVideo", "FileVideo", "FolderVideo", "FrameIndexError", "Video",
           "VideoOptions", "open_video", "write_video"]
