"""monitord: SLA monitoring and alerting for a telecom operator's enterprise circuits."""

__version__ = "0.1.0"
