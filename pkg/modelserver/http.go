package modelserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
)

// maxInferBody bounds a request to /infer; the server only hashes it.
const maxInferBody = 1 << 20

// Handler serves the model over the Open Inference Protocol's health,
// metadata and infer paths, plus KServe v1's model list.
func Handler(m *Model) http.Handler {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"live": true, "ready": true})
	}
	mux.HandleFunc("GET /v2/health/live", ok)
	mux.HandleFunc("GET /v2/health/ready", ok)
	mux.HandleFunc("GET /v2/models/{name}/ready", func(w http.ResponseWriter, r *http.Request) {
		if !found(w, r, m) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": m.Name, "ready": true})
	})
	mux.HandleFunc("GET /v2/models/{name}", func(w http.ResponseWriter, r *http.Request) {
		if !found(w, r, m) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": m.Name, "platform": "modelguard-demo", "files": m.Files, "bytes": m.Bytes, "digest": m.Digest})
	})
	mux.HandleFunc("POST /v2/models/{name}/infer", func(w http.ResponseWriter, r *http.Request) {
		if !found(w, r, m) {
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInferBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body: " + err.Error()})
			return
		}
		sum := sha256.Sum256(body)
		writeJSON(w, http.StatusOK, map[string]any{"model_name": m.Name, "outputs": []any{map[string]any{
			"name": "request_digest", "datatype": "BYTES", "shape": []int{1}, "data": []string{"sha256:" + hex.EncodeToString(sum[:])}}}})
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"models": []string{m.Name}})
	})
	return mux
}

func found(w http.ResponseWriter, r *http.Request, m *Model) bool {
	if r.PathValue("name") != m.Name {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "model " + r.PathValue("name") + " not found"})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
