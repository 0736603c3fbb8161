"""Django's admin, where the administrator manages users and their roles
(docs/architecture.md, "Roles"). Every change there is kept in Django's admin log,
which the audit page lists.

An administrator (not a superuser) cannot make anyone a superuser, give a
user permissions outside the roles, or change their own roles.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.http import HttpRequest


class RoleUserAdmin(UserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
            if obj is not None and obj.pk == request.user.pk:
                fields += ["groups", "is_staff", "is_active"]
        return fields


admin.site.unregister(User)
admin.site.register(User, RoleUserAdmin)
