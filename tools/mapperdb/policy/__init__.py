"""Policy as code: the repository's own checkov checks, waivers and compliance map (policies/)."""
