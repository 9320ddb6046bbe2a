from django.contrib.auth import views as auth_views
from django.urls import path

from kpcs.web import views
from kpcs.web.access import PUBLIC, page

urlpatterns = [
    path("", views.home, name="home"),
    path("verify/", views.verify, name="verify"),
    path("login/", page(PUBLIC)(auth_views.LoginView.as_view(template_name="web/login.html")), name="login"),
    path("logout/", page(PUBLIC)(auth_views.LogoutView.as_view()), name="logout"),
    path("password-reset/done/", views.password_reset_done, name="password_reset_complete"),
    path("password-reset/<uidb64>/<token>/", page(PUBLIC)(views.SetPasswordView.as_view()),
         name="password_reset_confirm"),
]
