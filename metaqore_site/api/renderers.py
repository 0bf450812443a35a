"""Response renderers: DRF's JSON renderer, made safe for text UTF-8 cannot encode."""

from __future__ import annotations

import copy

from rest_framework import renderers


class JSONRenderer(renderers.JSONRenderer):
    """DRF writes non-ASCII characters as they are, then encodes the text as UTF-8, which
    fails on a lone surrogate: a JSON body may carry one (``"\\ud800"``) and error messages
    echo input (``"…" is not a valid choice``), which would turn a 400 into a 500. Such a
    response is written with ASCII escapes instead; every other response is unchanged."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            escaped = copy.copy(self)
            escaped.ensure_ascii = True
            return escaped.render(data, accepted_media_type, renderer_context)
