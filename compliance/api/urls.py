from django.urls import re_path

from compliance.api.erasure_views import (
    ErasureApproveView,
    ErasureDetailView,
    ErasureListView,
)
from compliance.api.evidence_views import (
    CheckpointListView,
    EvidenceView,
    PublicKeysView,
    VerificationDetailView,
    VerificationListView,
)
from compliance.api.views import (
    AuditEventDetailView,
    AuditEventListView,
    AuditExportView,
    AuditVerifyView,
)

urlpatterns = [
    re_path(r"^audit/?$", AuditEventListView.as_view(), name="audit-list"),
    re_path(r"^audit/(?P<pk>[^/]{1,64})/?$", AuditEventDetailView.as_view(), name="audit-detail"),
    re_path(r"^export/?$", AuditExportView.as_view(), name="audit-export"),
    re_path(r"^verify/?$", AuditVerifyView.as_view(), name="audit-verify"),
    re_path(r"^verifications/?$", VerificationListView.as_view(), name="audit-verifications"),
    re_path(
        r"^verifications/(?P<pk>[^/]{1,64})/?$",
        VerificationDetailView.as_view(),
        name="audit-verification",
    ),
    re_path(r"^checkpoints/?$", CheckpointListView.as_view(), name="audit-checkpoints"),
    re_path(r"^evidence/?$", EvidenceView.as_view(), name="audit-evidence"),
    re_path(r"^erasures/?$", ErasureListView.as_view(), name="audit-erasures"),
    re_path(r"^erasures/(?P<pk>[^/]{1,64})/?$", ErasureDetailView.as_view(), name="audit-erasure"),
    re_path(
        r"^erasures/(?P<pk>[^/]{1,64})/approve/?$",
        ErasureApproveView.as_view(),
        name="audit-erasure-approve",
    ),
    re_path(r"^public-keys/?$", PublicKeysView.as_view(), name="audit-public-keys"),
]
