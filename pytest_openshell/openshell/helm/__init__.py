"""``--openshell-gateway=helm``: the gateway deployed into the cluster with a Helm chart."""

from pytest_openshell.openshell.helm.deploy import DeployedGateway, HelmGateway, resolve_helm
from pytest_openshell.openshell.helm.settings import HelmSettings, default_chart

__all__ = ["DeployedGateway", "HelmGateway", "HelmSettings", "default_chart", "resolve_helm"]
