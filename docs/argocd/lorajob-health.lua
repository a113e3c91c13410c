hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.conditions == nil then return hs end
-- Conditions written for an older spec say nothing about this one (a LoraJob resumed in git
-- would still show Suspended, one edited after it finished Healthy).
if obj.status.observedGeneration ~= obj.metadata.generation then return hs end
local c = {}
for _, condition in ipairs(obj.status.conditions) do c[condition.type] = condition end
local function holds(t) return c[t] ~= nil and c[t].status == "True" end
if holds("Failed") then
  hs.status = "Degraded"; hs.message = c.Failed.message
elseif holds("Complete") then
  hs.status = "Healthy"; hs.message = c.Complete.message
elseif holds("Suspended") then
  hs.status = "Suspended"; hs.message = c.Suspended.message
elseif c.Progressing ~= nil then
  hs.message = c.Progressing.message
end
return hs
