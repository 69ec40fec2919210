"""Template tags of the operators' desk."""

from django import template

from members.admin.dashboard import dashboard_panels

register = template.Library()


@register.simple_tag(takes_context=True)
def riskshare_dashboard(context):
    return dashboard_panels(context["request"])
