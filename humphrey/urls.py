from django.contrib import admin
from django.urls import include, path

from accounts.admin_site import secure_admin
from assistant import views as assistant_views
from humphrey import health, metrics

admin.site.site_header = "Humphrey administration"
admin.site.site_title = "Humphrey"
# Admin sign-in goes through allauth (MFA stage, rate limits); admin pages need staff with MFA.
secure_admin(admin.site)

urlpatterns = [
    path("", assistant_views.index, name="home"),  # the chat page
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("accounts/", include("allauth.urls")),
    path("curate/", include("documents.urls")),
    path("audit/", include("audit.urls")),
    path("chat/", include("assistant.urls")),
    path("insights/", include("insights.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "humphrey.views.bad_request"
handler403 = "humphrey.views.permission_denied"
handler404 = "humphrey.views.page_not_found"
handler500 = "humphrey.views.server_error"
