from rest_framework.routers import DefaultRouter


class OptionalSlashRouter(DefaultRouter):
    """Routes match with and without the trailing slash: agents call `/api/v1/projects` as
    often as `/api/v1/projects/`, and a redirect would turn their POST into a GET."""

    include_root_view = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"
