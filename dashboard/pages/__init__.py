"""Page layouts: the officer page and its parts, the field page, the video wall, the weekly snapshot."""
