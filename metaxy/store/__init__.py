"""Metadata stores: the base API shared by every backend plugin."""

from metaxy.store.base import AccessMode, Increment, LazyIncrement, MetadataStore, Status
from metaxy.store.contract import StoreContract

__all__ = ["AccessMode", "Increment", "LazyIncrement", "MetadataStore", "Status", "StoreContract"]
