"""The page's ranges for its controls and requests: each at most the library's bound for the same
quantity (``lowrankgan.limits``; a test checks), so whatever the page records, the command line and
the library read back. Smaller, because one request must stay cheap for a shared server."""

from __future__ import annotations

MAX_BODY_BYTES = 256 * 1024  # a request body: a 128x128 mask is 16 KB of '0'/'1'
MAX_PAGE_JSON_DEPTH = 8  # nesting of a request body: {params: {...}} needs 2
MAX_PAGE_SEED = 2**31 - 1  # the seed box (what a JavaScript number holds exactly, with room)
MAX_PAGE_TOP_K = 20  # directions computed, one slider each
MAX_PAGE_STRIP = 12  # seeds of the strip that shows an edit on other images
MAX_PAGE_PATH_STEPS = 8  # path-following steps of a slider render (each costs a Jacobian)
MAX_PAGE_TRANSLATE = 1.0  # StyleGAN3's input transform: a full image width either way ...
MAX_PAGE_ROTATE = 360.0  # ... and a full turn either way
MAX_PAGE_INVERT_STEPS = 2000  # optimisation steps of a photo's inversion

# Memory that requests running at once may claim (429 beyond). A decode's peak is a few times the
# file (a 64 MB upload of 40 megapixels holds the bytes, PIL's image and the RGB array); a paste holds
# about 4x the photo's RGB bytes plus its band (three 40-megapixel pastes at once would need ~2 GB).
MAX_DECODE_MEMORY = 128 << 20  # upload bytes being decoded at once (two 64 MB photos)
MAX_PASTE_MEMORY = 1536 << 20  # pastes at once: two 40-megapixel photos, or many small ones
PASTE_BAND_BYTES = 256 << 20  # a paste's working set beside the photos (photos.paste_many's bands)
