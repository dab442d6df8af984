#!/bin/sh
# One HTTP exchange on stdin/stdout (run by nc per connection): answers, like traefik/whoami,
# with the hostname, the addresses, the request line and every request header.
IFS= read -r request
headers=""
while IFS= read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
  headers="$headers$line
"
done
ips=$(for ip in $(hostname -i); do echo "IP: $ip"; done)
body="Hostname: $(hostname)
$ips
$(printf '%s' "$request" | tr -d '\r')
$headers"
printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "${#body}" "$body"
