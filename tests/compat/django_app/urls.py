from django.urls import path

from . import views

urlpatterns = [
    path("login", views.login),
    path("me", views.me),
    path("cart", views.add_to_cart),
    path("cycle", views.cycle),
    path("logout", views.logout),
    path("short", views.short),
]
