"""pagerduty"""
