from artifacts.api.views import ArtifactViewSet
from metaqore_site.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("artifacts", ArtifactViewSet, basename="artifact")

urlpatterns = router.urls
