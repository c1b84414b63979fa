"""Images for the kind provider, built locally because no registry is reachable."""

from pytest_openshell.kindimage.docker import DOCKER_FIX, image_exists, require_docker
from pytest_openshell.kindimage.node import ensure_node_image, node_image_tag

__all__ = ["DOCKER_FIX", "ensure_node_image", "image_exists", "node_image_tag", "require_docker"]
