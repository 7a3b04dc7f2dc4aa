.PHONY: demo test build bench

# Run Vigia on its embedded default with the bundled attack events.
demo:
	go run ./cmd/vigia demo

# The whole test suite (the same command CI runs).
test:
	test/run.sh

build:
	CGO_ENABLED=0 go build -trimpath -o bin/vigia ./cmd/vigia

bench:
	go test -run='^$$' -bench=. -benchmem ./...
