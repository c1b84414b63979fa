"""The binary toolchain: pins (data), resolution order, and Go builds from the module proxy."""

from pytest_openshell.toolchain.pins import Binary, Module, Pins, load_pins
from pytest_openshell.toolchain.resolver import ResolvedBinary, Resolver

__all__ = ["Binary", "Module", "Pins", "ResolvedBinary", "Resolver", "load_pins"]
