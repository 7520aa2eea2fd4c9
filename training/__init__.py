"""The Sync-GRPO + Dynamic Group Scaling trainer."""
