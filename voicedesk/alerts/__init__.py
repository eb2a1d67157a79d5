"""Proactive alerts: the feed of things worth telling (from the store), the policy of where
each goes, webhook delivery, the background watcher, and the stand-up digest."""
