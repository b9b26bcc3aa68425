module github.com/supportbot/supportbot

go 1.26.8

require (
	github.com/looplab/fsm v1.0.3
	go.yaml.in/yaml/v3 v3.0.6
)
