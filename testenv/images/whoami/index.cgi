#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "Hostname: $(hostname)"
for ip in $(hostname -i); do echo "IP: $ip"; done
echo "RemoteAddr: $REMOTE_ADDR"
echo "$REQUEST_METHOD $REQUEST_URI"
