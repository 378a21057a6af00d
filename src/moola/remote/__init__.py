"""GPU pods and the DVC remote: the pod job (`moola pod run`), its CLI and the RunPod launcher."""
