from django.contrib.auth import views as auth_views
from django.urls import path

from kpcs.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("verify/", views.verify, name="verify"),
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/done/", views.password_reset_done, name="password_reset_complete"),
    path("password-reset/<uidb64>/<token>/", views.SetPasswordView.as_view(), name="password_reset_confirm"),
]
