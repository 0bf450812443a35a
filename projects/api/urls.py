from metaqore_site.api.routers import OptionalSlashRouter
from projects.api.views import ProjectViewSet, TaskViewSet

router = OptionalSlashRouter()
router.register("projects", ProjectViewSet, basename="project")
router.register("tasks", TaskViewSet, basename="task")

urlpatterns = router.urls
