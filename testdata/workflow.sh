#!/usr/bin/env bash
# The spec's "Complete Workflow Example", verbatim.
BASE_URL="http://localhost:9090/api/v1"

# 1. Create a template
TEMPLATE=$(curl -s -X POST "$BASE_URL/templates" \
  -H "Content-Type: application/json" \
  -d '{
    "name": "my-webapp",
    "version": "1.0.0",
    "creator_id": "admin",
    "compose_spec": "services:\n  web:\n    image: nginx:alpine\n    ports:\n      - \"8888:80\"",
    "config_files": [
      {
        "name": "index.html",
        "path": "/usr/share/nginx/html/index.html",
        "content": "<h1>Welcome to My App!</h1>"
      }
    ]
  }')
TEMPLATE_ID=$(echo $TEMPLATE | jq -r '.id')
echo "Created template: $TEMPLATE_ID"

# 2. Publish the template
curl -s -X POST "$BASE_URL/templates/$TEMPLATE_ID/publish"
echo "Published template"

# 3. Create a deployment
DEPLOYMENT=$(curl -s -X POST "$BASE_URL/deployments" \
  -H "Content-Type: application/json" \
  -d "{
    \"template_id\": \"$TEMPLATE_ID\",
    \"customer_id\": \"customer-123\",
    \"name\": \"production-site\"
  }")
DEPLOYMENT_ID=$(echo $DEPLOYMENT | jq -r '.id')
echo "Created deployment: $DEPLOYMENT_ID"

# 4. Start the deployment
curl -s -X POST "$BASE_URL/deployments/$DEPLOYMENT_ID/start"
echo "Started deployment"

# 5. Test the service
sleep 2
curl http://localhost:8888
# Output: <h1>Welcome to My App!</h1>

# 6. Check deployment status
curl -s "$BASE_URL/deployments/$DEPLOYMENT_ID" | jq '.status'
# Output: "running"

# 7. Stop when done
curl -s -X POST "$BASE_URL/deployments/$DEPLOYMENT_ID/stop"
echo "Stopped deployment"

# 8. Clean up
curl -s -X DELETE "$BASE_URL/deployments/$DEPLOYMENT_ID"
curl -s -X DELETE "$BASE_URL/templates/$TEMPLATE_ID"
echo "Cleaned up"
