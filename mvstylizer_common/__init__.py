"""Pieces shared by the client and both services: wire codecs, errors, gRPC options."""

import os

# OpenCV's own cap on the pixels a decoder may allocate, read once as OpenCV loads: a backstop
# behind the header checks of imagecodec, for a file whose decoder finds a header other than the
# one those checks read. 40 Mpx is limits.DEFAULT_MAX_PIXELS (written out: limits imports numpy).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(40_000_000))
