hs = {status = "Progressing", message = "no version yet"}
if obj.status == nil or obj.status.conditions == nil then return hs end
if obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "waiting for the operator"; return hs
end
local ready, progressing, degraded
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Progressing" then progressing = c end
  if c.type == "Degraded" then degraded = c end
end
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"; hs.message = degraded.message
elseif progressing ~= nil and progressing.status == "True" then
  hs.status = "Progressing"; hs.message = progressing.message
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"; hs.message = ready.message
elseif ready ~= nil and ready.reason ~= "NoVersions" and ready.reason ~= "NotServed" then
  hs.status = "Degraded"; hs.message = ready.message
elseif ready ~= nil then
  hs.message = ready.message
end
return hs
