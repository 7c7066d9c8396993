"""Metadata stores: the base API shared by every backend plugin."""

from metaxy.store.base import AccessMode, Increment, LazyIncrement, MetadataStore, Status

__all__ = ["AccessMode", "Increment", "LazyIncrement", "MetadataStore", "Status"]
