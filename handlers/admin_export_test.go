package handlers

import "github.com/gin-gonic/gin"

// AdminTestRoutes lists every route the handler stack registers, as the
// engine sees them: the admin tests check each /admin route is refused to
// non-administrators, including routes added later by anyone.
func AdminTestRoutes() []gin.RouteInfo {
	gin.SetMode(gin.ReleaseMode)
	h := &Handler{engine: gin.New()}
	h.routes()
	return h.engine.Routes()
}
