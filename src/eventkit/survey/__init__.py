"""The follow-up survey and its evaluation."""
