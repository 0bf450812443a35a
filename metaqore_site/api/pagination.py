from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """DRF's page format; ``page_size`` is capped so no client can ask for everything at once."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200
