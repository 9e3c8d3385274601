module microvm.dev/guest-agent

go 1.19
