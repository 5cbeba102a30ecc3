"""The admin site, for holders of the admin role only (drills.web.roles).

Django's own site lets in anyone with the staff flag; here the admin role decides instead, so
that only admins reach the inventory, users, memberships and protected hosts, and the role is
given in one place (the "drillhall admins" group, or a superuser). What an admin may change
there is the model permissions that group carries (drills/web/apps.py).
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from drills.web.roles import is_admin


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's sign-in form asks for the admin role, not the staff flag."""

    def confirm_login_allowed(self, user: Any) -> None:
        AuthenticationForm.confirm_login_allowed(self, user)  # active accounts only
        if not is_admin(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class DrillhallAdminSite(AdminSite):
    site_header = "Drillhall administration"
    site_title = "Drillhall admin"
    login_form = AdminLoginForm

    def has_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)
