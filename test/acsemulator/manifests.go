package acsemulator

import "fmt"

// ServingDeployment is a model-serving Deployment for deploy-time checks
// against the example data (testdata/central.yaml): non-root, with
// resource limits, so only "Privileged Container" (scale-to-zero and
// create-time enforcement) can fire, and it does exactly when privileged.
func ServingDeployment(image string, privileged bool) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: sentiment-serving}
spec:
  selector: {matchLabels: {app: sentiment}}
  template:
    metadata: {labels: {app: sentiment}}
    spec:
      containers:
        - name: server
          image: %s
          securityContext: {privileged: %t, runAsNonRoot: true, runAsUser: 1001}
          resources: {limits: {cpu: "1", memory: 1Gi}}
`, image, privileged)
}
