"""EMR Serverless: the Spark application for the heavy analytics (segmentation, affinity, forecasts) and its job role."""

from stacks.analytics_cluster.analytics_cluster import AnalyticsCluster
from stacks.analytics_cluster.analytics_cluster_props import AnalyticsClusterProps
from stacks.analytics_cluster.analytics_cluster_stack import AnalyticsClusterStack

__all__ = ["AnalyticsCluster", "AnalyticsClusterProps", "AnalyticsClusterStack"]
