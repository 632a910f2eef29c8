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

// ServingStack is what a team serves a model with on KServe: a
// ServingRuntime, an InferenceService whose model is the modelcar image,
// and a metrics Service. DeploymentCheck sends Central the predictor
// Deployment KServe would make of them (Central ignores the CRDs); its
// server runs as the example data wants unless privileged.
func ServingStack(runtimeImage, modelImage string, privileged bool) string {
	return fmt.Sprintf(`apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata: {name: modelguard-serve}
spec:
  supportedModelFormats: [{name: onnx, autoSelect: true}]
  containers:
    - name: server
      image: %s
      args: [serve, --dir=/mnt/models]
      securityContext: {privileged: %t, runAsNonRoot: true, runAsUser: 1001}
      resources: {limits: {cpu: "1", memory: 1Gi}}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: sentiment}
spec:
  predictor:
    model:
      modelFormat: {name: onnx}
      runtime: modelguard-serve
      storageUri: oci://%s
      resources: {limits: {cpu: "1", memory: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: sentiment-metrics}
spec:
  ports: [{port: 8080}]
`, runtimeImage, privileged, modelImage)
}
