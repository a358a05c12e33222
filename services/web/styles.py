"""The style photos the gateway offers the page (`--styles DIR`): their list, and each photo.

    GET /styles              JSON: [{"name": stem, "file": file name}], sorted by name ([] without --styles)
    GET /styles/<file name>  that photo's bytes (only the files of the list: no other path is served)

Both need the run's token, like the page: the photos are the user's own.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from client.media.paths import IMAGE_EXTENSIONS
from mvstylizer_common.errors import InvalidInputError

STYLES_PATH = "/styles"


def style_photos(folder: Path | None) -> dict[str, Path]:
    """File name -> path of each photo in `folder` (InvalidInputError naming --styles if it offers none)."""
    if folder is None:
        return {}
    if not folder.is_dir():
        raise InvalidInputError(f"--styles {folder}: no such folder")
    photos = {p.name: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()}
    if not photos:
        raise InvalidInputError(
            f"--styles {folder}: a folder with no style photos ({', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    return photos


def style_routes(folder: Path | None) -> list[Route]:
    photos = style_photos(folder)
    listing = [{"name": Path(name).stem, "file": name} for name in photos]

    async def index(_request: Request) -> Response:
        return JSONResponse(listing)

    async def photo(request: Request) -> Response:
        path = photos.get(request.path_params["name"])
        if path is None or not path.is_file():
            return Response("no such style photo", status_code=404, media_type="text/plain")
        return FileResponse(path)

    return [Route(STYLES_PATH, index), Route(STYLES_PATH + "/{name}", photo)]


def is_styles_path(path: str) -> bool:
    return path == STYLES_PATH or path.startswith(STYLES_PATH + "/")
