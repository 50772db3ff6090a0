from services.reward_worker.app import SERVICE, create_app
from shared.http.main import serve

if __name__ == "__main__":
    serve(SERVICE, create_app, lambda settings: settings.reward_worker_port)
